{#-
    Delta maintenance as run-operations (the maintenance DAG runs them daily, in this order):
      dbt run-operation expire_bronze                   # bronze_retention_days, when set
      dbt run-operation optimize_tables                 # OPTIMIZE, ZORDER BY
      dbt run-operation vacuum_tables --args '{retain_hours: 168}'
    They cover bronze (when this project registers it: a bronze registered elsewhere,
    LAKEHOUSE_BRONZE_TABLE, is its owner's to maintain), this project's silver and gold tables
    (models materialized as table or incremental) and the event log's tables
    (macros/ops/event_log.sql). A model lists the columns gold is filtered by in
    meta.zorder_by. Each is safe beside a running ingest job and build: docs/design.md#bronze-maintenance.
-#}

{% macro maintained_bronze() %}
    {#- bronze's relation, registered; none when it is registered elsewhere. -#}
    {%- if bronze_table_parts() -%}
        {{ log('bronze: registered elsewhere (LAKEHOUSE_BRONZE_TABLE), so not maintained here', info=true) }}
        {{ return(none) }}
    {%- endif -%}
    {%- do register_bronze() -%}
    {{ return(source('bronze', 'kafka_events')) }}
{% endmacro %}


{% macro bronze_zorder_by() %}
    {#- What readers filter bronze by: staging reads one topic past its read mark. -#}
    {{ return(['topic', '_ingested_at']) }}
{% endmacro %}


{% macro expire_bronze() %}
    {#- Deletes bronze's events ingested more than bronze_retention_days ago (whole ingest_date
        partitions: a metadata-only commit); vacuum removes their files once they are older
        than its retention. Unset (the default), bronze keeps every event. -#}
    {%- set days = var('bronze_retention_days') -%}
    {%- if days is none -%}
        {{ log('bronze: kept whole (bronze_retention_days is not set)', info=true) }}
        {{ return(none) }}
    {%- endif -%}
    {%- if days is boolean or days is not number or days < 1 or days != days | int -%}
        {{ exceptions.raise_compiler_error(
            'bronze_retention_days: ' ~ days ~ ' is not a whole number of days, at least 1') }}
    {%- endif -%}
    {%- set bronze = maintained_bronze() -%}
    {%- if bronze is not none -%}
        {%- set deleted = run_query('delete from ' ~ bronze
            ~ ' where ingest_date < date_sub(current_date(), ' ~ days | int ~ ')') -%}
        {#- Delta answers a DELETE with the rows it removed. -#}
        {{ log('bronze: deleted ' ~ deleted.columns[0].values()[0] ~ ' events ingested over '
            ~ days | int ~ ' days ago', info=true) }}
    {%- endif -%}
{% endmacro %}


{% macro maintained_models() %}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.package_name == project_name
            and node.config.materialized in ('table', 'incremental') -%}
            {%- do found.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='name')) }}
{% endmacro %}


{% macro maintained_relations() %}
    {#- [relation, zorder_by] of each maintained model, and of the event log's tables (one small
        file per dbt invocation or micro-batch), that exists; bronze apart. -#}
    {%- set found = [] -%}
    {%- for node in maintained_models() -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
        {%- if relation is not none -%}
            {%- do found.append([relation, (node.config.meta or {}).get('zorder_by', [])]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in ['dbt_invocations', 'dbt_node_results', 'ingest_batches'] -%}
        {%- set log_table = event_log_relation(name) -%}
        {%- set relation = adapter.get_relation(log_table.database, log_table.schema, name) -%}
        {%- if relation is not none -%}
            {%- do found.append([relation, []]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro optimize_tables() %}
    {%- set bronze = maintained_bronze() -%}
    {%- if bronze is not none -%}
        {#- Only the last bronze_optimize_days of ingest_date: Z-ordering rewrites whole
            partitions, and older ones were compacted when they were recent. -#}
        {%- set days = var('bronze_optimize_days') -%}
        {%- if days is boolean or days is not number or days < 1 or days != days | int -%}
            {{ exceptions.raise_compiler_error(
                'bronze_optimize_days: ' ~ days ~ ' is not a whole number of days, at least 1') }}
        {%- endif -%}
        {%- set days = days | int -%}
        {%- do run_query(adapter.dispatch('optimize_sql')(bronze, bronze_zorder_by(),
            'ingest_date > date_sub(current_date(), ' ~ days ~ ')')) -%}
        {{ log('optimized ' ~ bronze ~ ' (the last ' ~ days ~ ' days) zorder by '
            ~ bronze_zorder_by() | join(', '), info=true) }}
    {%- endif -%}
    {%- for relation, zorder_by in maintained_relations() -%}
        {%- do run_query(adapter.dispatch('optimize_sql')(relation, zorder_by)) -%}
        {{ log('optimized ' ~ relation ~ (' zorder by ' ~ zorder_by | join(', ') if zorder_by else ''), info=true) }}
    {%- endfor -%}
{% endmacro %}


{% macro default__optimize_sql(relation, zorder_by, where=none) -%}
    optimize {{ relation }}{% if where %} where {{ where }}{% endif %}{% if zorder_by %} zorder by ({{ zorder_by | join(', ') }}){% endif %}
{%- endmacro %}


{% macro databricks__optimize_sql(relation, zorder_by, where=none) -%}
    {#- Liquid-clustered tables on Databricks optimize by their clustering keys. -#}
    optimize {{ relation }}{% if where %} where {{ where }}{% endif %}{% if zorder_by and not config.get('liquid_clustered_by') %} zorder by ({{ zorder_by | join(', ') }}){% endif %}
{%- endmacro %}


{% macro vacuum_tables(retain_hours=168) %}
    {#- Files older than retain_hours (default 7 days) that no version needs are deleted: never
        a file a running job or build still writes or reads, which are newer. Bronze's
        `_checkpoints` folder, like every folder whose name starts with `_`, is not Delta's. -#}
    {%- set bronze = maintained_bronze() -%}
    {%- for relation in ([bronze] if bronze is not none else [])
        + maintained_relations() | map('first') | list -%}
        {%- do run_query("vacuum " ~ relation ~ " retain " ~ (retain_hours | int) ~ " hours") -%}
        {{ log('vacuumed ' ~ relation ~ ' (retain ' ~ retain_hours ~ ' hours)', info=true) }}
    {%- endfor -%}
{% endmacro %}
