{#-
    Where the `bronze` source lives, and how it gets into the catalog.

    The ingest job writes bronze by path (it needs no metastore), so by default dbt registers
    the table, `<schema>_bronze.kafka_events`, at that path before any model reads it
    (on-run-start): on Spark at LAKEHOUSE_BRONZE_PATH (default <state>/bronze/kafka_events),
    on Databricks at LAKEHOUSE_BRONZE_PATH, which must then be set (an s3://, abfss:// or gs://
    location the workspace can read: a Unity Catalog external location).

    LAKEHOUSE_BRONZE_TABLE (`[catalog.]schema.table`) names a table that
    is registered elsewhere instead (an ingest job that writes a catalog table, a table another
    team owns): the source reads it, and dbt registers nothing.
-#}

{% macro bronze_table_parts() %}
    {#- LAKEHOUSE_BRONZE_TABLE split into its parts, checked: [catalog, schema, table]. -#}
    {%- set name = env_var('LAKEHOUSE_BRONZE_TABLE', '') | trim -%}
    {%- if not name -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set parts = name.split('.') -%}
    {%- if parts | length > 3 or '' in parts -%}
        {{ exceptions.raise_compiler_error(
            "LAKEHOUSE_BRONZE_TABLE=" ~ name ~ ": expected [catalog.]schema.table") }}
    {%- endif -%}
    {%- if parts | length == 3 and target.type == 'spark' -%}
        {{ exceptions.raise_compiler_error(
            "LAKEHOUSE_BRONZE_TABLE=" ~ name ~ ": Spark's session catalog has no catalog "
            ~ "level; give schema.table") }}
    {%- endif -%}
    {{ return(parts) }}
{% endmacro %}


{% macro bronze_registration_sql() %}
    {#- The statements that register bronze at its path: none when the table lives elsewhere. -#}
    {%- if bronze_table_parts() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set schema = var('bronze_schema', target.schema ~ '_bronze') -%}
    {%- if target.type == 'databricks' -%}
        {%- set location = env_var('LAKEHOUSE_BRONZE_PATH', '') -%}
        {%- if not location -%}
            {{ exceptions.raise_compiler_error(
                "bronze: on Databricks set LAKEHOUSE_BRONZE_PATH (the bronze table's storage "
                ~ "location, registered as " ~ target.database ~ "." ~ schema ~ ".kafka_events) "
                ~ "or LAKEHOUSE_BRONZE_TABLE (a table registered elsewhere): "
                ~ "docs/configuration.md") }}
        {%- endif -%}
        {%- set schema = target.database ~ '.' ~ schema -%}
    {%- else -%}
        {%- set location = env_var(
            'LAKEHOUSE_BRONZE_PATH',
            env_var('LAKEHOUSE_STATE_DIR', '.state') ~ '/bronze/kafka_events'
        ) -%}
    {%- endif -%}
    {{ return([
        'create schema if not exists ' ~ schema,
        'create table if not exists ' ~ schema ~ ".kafka_events using delta location '"
            ~ location ~ "'",
    ]) }}
{% endmacro %}


{% macro register_bronze() %}
    {%- if execute -%}
        {%- set statements = bronze_registration_sql() -%}
        {%- for statement in statements -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
        {{ log('bronze: ' ~ (statements[-1] if statements else 'reading '
            ~ env_var('LAKEHOUSE_BRONZE_TABLE') ~ ', registered elsewhere')) }}
    {%- endif -%}
{% endmacro %}
