{#-
    The project's incremental strategies, named in each model's config as dbt's custom
    strategies are (a `get_incremental_<name>_sql` macro each); dbt's own `merge` is left alone.
    - latest_wins: upsert by unique_key where the newest version of a row wins, whatever order
      events arrive in. meta.latest_wins: order_by (newest last), keep_least, keep_greatest.
    - sync: the model selects its whole current state (an aggregate), or with meta.sync.scope
      the whole current state of the scopes it selects (order lines of the changed orders);
      write only the rows that changed and delete the keys that are gone.
    The SQL and its semantics: macros/merge/lakehouse_merge.sql; docs/dbt.md.
-#}

{% macro lakehouse_incremental_strategies() -%}
    {{ return(['latest_wins', 'sync']) }}
{%- endmacro %}


{% macro get_incremental_latest_wins_sql(arg_dict) -%}
    {%- set settings = (config.get('meta') or {}).get('latest_wins', {}) -%}
    {%- set unknown = settings.keys() | reject('in', ['order_by', 'keep_least', 'keep_greatest']) | list -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error(
            'meta.latest_wins: unknown ' ~ unknown | join(', ') ~ ' (known: order_by, keep_least, keep_greatest)') }}
    {%- endif -%}
    {%- if not settings.get('order_by') -%}
        {{ exceptions.raise_compiler_error('incremental_strategy latest_wins needs meta.latest_wins.order_by') }}
    {%- endif -%}
    {{ return(lakehouse_strategy_sql(arg_dict, settings)) }}
{%- endmacro %}


{% macro get_incremental_sync_sql(arg_dict) -%}
    {%- set settings = (config.get('meta') or {}).get('sync', {}) -%}
    {%- set unknown = settings.keys() | reject('in', ['scope']) | list -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error('meta.sync: unknown ' ~ unknown | join(', ') ~ ' (known: scope)') }}
    {%- endif -%}
    {{ return(lakehouse_strategy_sql(arg_dict, {'sync': true, 'scope': settings.get('scope')})) }}
{%- endmacro %}


{% macro lakehouse_strategy_sql(arg_dict, settings) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
    {%- set update_columns = get_merge_update_columns(
        config.get('merge_update_columns'), config.get('merge_exclude_columns'), dest_columns) -%}
    {%- set sql -%}
    {{ sql_header if sql_header is not none }}
    {{ lakehouse_merge_sql(
        target=target,
        source=arg_dict['temp_relation'],
        unique_key=arg_dict['unique_key'],
        update_columns=(
            dest_columns | map(attribute='name') | list
            if settings.get('sync') or not update_columns else update_columns
        ),
        incremental_predicates=arg_dict['incremental_predicates'],
        order_by=settings.get('order_by'),
        keep_least=settings.get('keep_least', []),
        keep_greatest=settings.get('keep_greatest', []),
        sync=settings.get('sync', false),
        scope=settings.get('scope'),
    ) }}
    {%- endset -%}
    {{ return(sql) }}
{%- endmacro %}


{#-
    dbt-databricks finds a custom strategy by its macro's name. dbt-spark (1.10) knows only its
    own four, so these two let it find ours and hand every other strategy back to dbt-spark.
-#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy in lakehouse_incremental_strategies() -%}
        {%- if file_format != 'delta' -%}
            {{ exceptions.raise_compiler_error(
                'incremental_strategy ' ~ raw_strategy ~ ' merges into Delta: set file_format delta') }}
        {%- endif -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}


{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy in lakehouse_incremental_strategies() -%}
        {%- set strategy_sql = adapter.get_incremental_strategy_macro(context, strategy) -%}
        {{ return(strategy_sql({
            'target_relation': target,
            'temp_relation': source,
            'unique_key': unique_key,
            'dest_columns': none,
            'incremental_predicates': incremental_predicates,
        })) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates)) }}
{%- endmacro %}
