{#-
    Tests on the deliveries (staging's rows, kept) judge the rows the next build promotes, not
    all of history, so that their cost follows new data (bench/incremental_cost.py). A test's
    `where` config may say
        __unread_by(<model>, <read mark column>)__
    for the rows that incremental <model> reads next (unread_by() in
    macros/incremental/read_marks.sql). On a full refresh, or before <model> exists, that is every row.

    dbt renders `where` without the project's macros, so this placeholder is replaced here,
    when the test runs (dbt's documented way to template `where`: override this macro).
-#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set placeholder = '__unread_by\\(\\s*(\\w+)\\s*,\\s*(\\w+)\\s*\\)__' -%}
    {#- a dict: a Jinja loop cannot reassign a variable outside it -#}
    {%- set state = {'where': where} -%}
    {%- for found in modules.re.finditer(placeholder, where) -%}
        {%- do state.update({'where': state['where'].replace(
            found.group(0), '(' ~ unread_by_model(found.group(1), found.group(2)) ~ ')')}) -%}
    {%- endfor -%}
    {#- The alias: else Spark reads `x where (...)` as the alias `where` with column names. -#}
    {%- set filtered -%}
        (select * from {{ relation }} as dbt_tested where {{ state['where'] }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}


{% macro unread_by_model(model_name, column) -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('package_name', 'equalto', project_name)
        | selectattr('name', 'equalto', model_name)
        | list -%}
    {%- if not nodes -%}
        {{ exceptions.raise_compiler_error(
            "where: __unread_by(" ~ model_name ~ ", ...)__ names no model") }}
    {%- endif -%}
    {%- set node = nodes[0] -%}
    {%- set relation = adapter.get_relation(
        database=node.database, schema=node.schema, identifier=node.alias) -%}
    {%- if relation is none -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(unread_by(relation, column)) }}
{%- endmacro %}
