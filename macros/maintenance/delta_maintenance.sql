{#-
    Delta maintenance as run-operations (the maintenance DAG runs them daily):
      dbt run-operation optimize_tables                 # OPTIMIZE, ZORDER BY meta.zorder_by
      dbt run-operation vacuum_tables --args '{retain_hours: 168}'
    They cover this project's silver and gold tables (models materialized as table or
    incremental) and the event log's tables (macros/ops/event_log.sql). A model lists the
    columns gold is filtered by in meta.zorder_by.
-#}

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
        file per dbt invocation or micro-batch), that exists. -#}
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
    {%- for relation, zorder_by in maintained_relations() -%}
        {%- do run_query(adapter.dispatch('optimize_sql')(relation, zorder_by)) -%}
        {{ log('optimized ' ~ relation ~ (' zorder by ' ~ zorder_by | join(', ') if zorder_by else ''), info=true) }}
    {%- endfor -%}
{% endmacro %}


{% macro default__optimize_sql(relation, zorder_by) -%}
    optimize {{ relation }}{% if zorder_by %} zorder by ({{ zorder_by | join(', ') }}){% endif %}
{%- endmacro %}


{% macro databricks__optimize_sql(relation, zorder_by) -%}
    {#- Liquid-clustered tables on Databricks optimize by their clustering keys. -#}
    optimize {{ relation }}{% if zorder_by and not config.get('liquid_clustered_by') %} zorder by ({{ zorder_by | join(', ') }}){% endif %}
{%- endmacro %}


{% macro vacuum_tables(retain_hours=168) %}
    {#- Files older than retain_hours (default 7 days) that no version needs are deleted. -#}
    {%- for relation, _ in maintained_relations() -%}
        {%- do run_query("vacuum " ~ relation ~ " retain " ~ (retain_hours | int) ~ " hours") -%}
        {{ log('vacuumed ' ~ relation ~ ' (retain ' ~ retain_hours ~ ' hours)', info=true) }}
    {%- endfor -%}
{% endmacro %}
