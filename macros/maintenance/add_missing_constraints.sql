{#-
    dbt run-operation add_missing_constraints

    dbt adds a model's Delta CHECK constraints when it creates the table; a table created
    before a constraint was declared lacks it until a full refresh. This adds each declared
    constraint the table lacks. Delta checks the rows the table holds first, and refuses the
    constraint, naming it, if one breaks it. Running it again changes nothing.
    docs/dbt.md#constraints.
-#}

{% macro add_missing_constraints() %}
    {%- for node in maintained_models() -%}
        {%- set checks = node.constraints | selectattr('type', 'equalto', 'check') | list -%}
        {%- for check in checks if not check.name -%}
            {{ exceptions.raise_compiler_error(
                node.name ~ ': a check constraint needs a name (' ~ check.expression ~ ')') }}
        {%- endfor -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.alias)
            if checks else none -%}
        {%- if relation is not none -%}
            {#- Delta keeps each constraint as the table property delta.constraints.<name>. -#}
            {%- set held = run_query('show tblproperties ' ~ relation).columns[0].values() -%}
            {%- for check in checks -%}
                {%- if ('delta.constraints.' ~ check.name | lower) not in held -%}
                    {{ log(relation ~ ': adding constraint ' ~ check.name, info=true) }}
                    {%- do run_query('alter table ' ~ relation ~ ' add constraint ' ~ check.name
                        ~ ' check (' ~ check.expression ~ ')') -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
