{% macro register_bronze() %}
    {#-
        The ingest job writes bronze by path, so that it needs no metastore (an embedded Derby
        metastore admits one process, and a Thrift server may hold it). dbt registers the table
        on whichever target it runs, before any model reads the source. On Databricks the
        ingest job writes a catalog table itself, so there is nothing to do.
    -#}
    {%- if execute and target.type == 'spark' -%}
        {%- set schema = var('bronze_schema', target.schema ~ '_bronze') -%}
        {%- set location = env_var(
            'LAKEHOUSE_BRONZE_PATH',
            env_var('LAKEHOUSE_STATE_DIR') ~ '/bronze/kafka_events'
        ) -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- do run_query(
            'create table if not exists ' ~ schema ~ '.kafka_events using delta location '
            ~ "'" ~ location ~ "'"
        ) -%}
        {{ log('bronze: ' ~ schema ~ '.kafka_events registered at ' ~ location) }}
    {%- endif -%}
{% endmacro %}
