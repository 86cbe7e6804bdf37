{% macro generate_schema_name(custom_schema_name, node) -%}
    {#-
        One schema per layer, prefixed with the target's schema: lakehouse_staging,
        lakehouse_silver, lakehouse_gold, lakehouse_reference. The prefix (LAKEHOUSE_SCHEMA)
        keeps developers, tests and environments apart on a shared metastore or catalog.
    -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
