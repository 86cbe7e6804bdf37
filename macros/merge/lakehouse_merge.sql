{#-
    The MERGE behind the project's two incremental strategies (macros/merge/strategies.sql).
    Events arrive duplicated, late and out of order, so, unlike dbt's stock merge, it:
    - compares unique keys null-safely (<=>);
    - with `order_by` (columns that order versions of a row, newest last, e.g.
      ['last_event_at', 'last_event_id']): keeps only the newest incoming row per key, so
      Delta never sees several source rows for one target row, and updates a matched row only
      when the incoming one is newer;
    - with `keep_least` / `keep_greatest`: columns that always take the least /
      greatest of the stored and incoming values, whichever row is newer (e.g. placed_at, the
      earliest event ever seen: a late order_placed still sets it);
    - keeps dbt's merge_update_columns, merge_exclude_columns and incremental_predicates;
    - with `order_by`, drops incoming rows that would change nothing before Delta sees them, so
      a batch of old news (silver re-reads a lookback window) rewrites no files;
    - with `sync`, for a model that selects its whole current state (an aggregate): writes
      only the rows that differ from the stored ones, and deletes the stored keys the model no
      longer has, so a run with nothing new writes nothing;
    - with `sync` and `scope` (a column, e.g. order_id of order lines), for a model that
      selects the whole current state of only some scopes (the orders that changed): the same,
      but only stored rows of a scope the model selected can be gone.

    lakehouse_merge_sql builds the statement from plain arguments (no dbt context), so
    tests/python/test_merge_macro.py renders it with Jinja and runs it on Delta.
-#}

{% macro lakehouse_merge_sql(
    target,
    source,
    unique_key,
    update_columns,
    incremental_predicates=none,
    order_by=none,
    keep_least=[],
    keep_greatest=[],
    sync=false,
    scope=none
) %}
    {%- if unique_key is none -%}
        {%- set keys = [] -%}
    {%- elif unique_key is string -%}
        {%- set keys = [unique_key] -%}
    {%- else -%}
        {%- set keys = unique_key | list -%}
    {%- endif -%}
    {%- set order_by = [] if order_by is none else ([order_by] if order_by is string else order_by | list) -%}
    {%- set kept = keep_least + keep_greatest -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- for key in keys -%}
        {%- do predicates.append('dbt_internal_source.' ~ key ~ ' <=> dbt_internal_dest.' ~ key) -%}
    {%- endfor -%}
    {%- if not keys -%}
        {%- do predicates.append('false') -%}
    {%- endif -%}

    {%- set newer -%}
        struct({% for c in order_by %}dbt_internal_source.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
            > struct({% for c in order_by %}dbt_internal_dest.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
    {%- endset -%}
    {%- set moves = [] -%}
    {%- for column in keep_least -%}
        {%- do moves.append('dbt_internal_source.' ~ column ~ ' < dbt_internal_dest.' ~ column) -%}
    {%- endfor -%}
    {%- for column in keep_greatest -%}
        {%- do moves.append('dbt_internal_source.' ~ column ~ ' > dbt_internal_dest.' ~ column) -%}
    {%- endfor %}

    {%- if sync %}
    {%- if not keys or order_by %}
        {{ exceptions.raise_compiler_error('the sync strategy needs a unique_key and no order_by') }}
    {%- endif %}
    {{ lakehouse_sync_merge_sql(target, source, predicates, update_columns, scope) }}
    {%- else %}

    merge into {{ target }} as dbt_internal_dest
    using (
        {%- if order_by and keys %}
        {#- Only rows that will insert or update: Delta rewrites every file holding a matched
            row, even when no clause fires (a re-read lookback window would rewrite them all). #}
        select dbt_internal_source.*
        from (
            select * except (dbt_merge_recency)
            from (
                select
                    *,
                    row_number() over (
                        partition by {{ keys | join(', ') }}
                        order by {% for column in order_by %}{{ column }} desc{{ ', ' if not loop.last }}{% endfor %}
                    ) as dbt_merge_recency
                from {{ source }}
            )
            where dbt_merge_recency = 1
        ) as dbt_internal_source
        left anti join {{ target }} as dbt_internal_dest
            on {{ predicates | join('\n            and ') }}
            and not coalesce({{ newer }}{% for move in moves %} or {{ move }}{% endfor %}, false)
        {%- else %}
        select * from {{ source }}
        {%- endif %}
    ) as dbt_internal_source
    on {{ predicates | join('\n        and ') }}

    when matched
        {%- if order_by %}
        and {{ newer }}
        {%- endif %}
        then update set
        {%- for column in update_columns %}
            {%- if column in keep_least %}
            {{ column }} = least(dbt_internal_dest.{{ column }}, dbt_internal_source.{{ column }})
            {%- elif column in keep_greatest %}
            {{ column }} = greatest(dbt_internal_dest.{{ column }}, dbt_internal_source.{{ column }})
            {%- else %}
            {{ column }} = dbt_internal_source.{{ column }}
            {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}

    {%- if order_by and kept %}
    {#- An older version still moves the kept columns (a late first event, a later ingest). #}
    when matched and ({{ moves | join(' or ') }})
        then update set
        {%- for column in kept %}
            {%- if column in keep_least %}
            {{ column }} = least(dbt_internal_dest.{{ column }}, dbt_internal_source.{{ column }})
            {%- else %}
            {{ column }} = greatest(dbt_internal_dest.{{ column }}, dbt_internal_source.{{ column }})
            {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- endif %}

    when not matched then insert *
    {%- endif %}
{% endmacro %}


{% macro lakehouse_sync_merge_sql(target, source, predicates, columns, scope=none) %}
    {#- `columns`: every column of the target (merge_update_columns does not apply). #}
    {%- if scope is not none and scope not in columns -%}
        {{ exceptions.raise_compiler_error('sync: scope ' ~ scope ~ ' is not a column of ' ~ target) }}
    {%- endif %}
    {%- set unchanged = [] + predicates -%}
    {%- for column in columns -%}
        {%- do unchanged.append('dbt_internal_source.' ~ column ~ ' <=> dbt_internal_dest.' ~ column) -%}
    {%- endfor %}
    merge into {{ target }} as dbt_internal_dest
    using (
        {#- The rows that differ from the stored ones, and the stored keys that are gone. #}
        select
            {%- for column in columns %}
            dbt_internal_source.{{ column }},
            {%- endfor %}
            false as dbt_merge_is_gone
        from {{ source }} as dbt_internal_source
        {%- if scope is not none %}
        {#- Only the stored rows of the selected scopes: the whole table would be hashed (or
            broadcast, if Spark guesses it small) on every run, a cost that grows with history. #}
        left anti join (
            select dbt_merge_scoped.* from {{ target }} as dbt_merge_scoped
            left semi join (select distinct {{ scope }} from {{ source }}) as dbt_merge_scopes
                on dbt_merge_scoped.{{ scope }} <=> dbt_merge_scopes.{{ scope }}
        ) as dbt_internal_dest
        {%- else %}
        left anti join {{ target }} as dbt_internal_dest
        {%- endif %}
            on {{ unchanged | join('\n            and ') }}
        union all
        select
            {%- for column in columns %}
            dbt_internal_dest.{{ column }},
            {%- endfor %}
            true as dbt_merge_is_gone
        from {{ target }} as dbt_internal_dest
        {%- if scope is not none %}
        left semi join (select distinct {{ scope }} from {{ source }}) as dbt_merge_scopes
            on dbt_internal_dest.{{ scope }} <=> dbt_merge_scopes.{{ scope }}
        {%- endif %}
        left anti join {{ source }} as dbt_internal_source
            on {{ predicates | join('\n            and ') }}
    ) as dbt_internal_source
    on {{ predicates | join('\n        and ') }}

    when matched and dbt_internal_source.dbt_merge_is_gone then delete

    when matched then update set
    {%- for column in columns %}
        {{ column }} = dbt_internal_source.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}

    when not matched then insert ({{ columns | join(', ') }})
        values (
        {%- for column in columns -%}
            dbt_internal_source.{{ column }}{{ ', ' if not loop.last }}
        {%- endfor -%}
        )
{% endmacro %}
