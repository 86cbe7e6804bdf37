{#-
    Filters that make an incremental run cost what is new. Each looks up the model's
    high-water mark once, at compile time, and inlines it as a timestamp literal, so that
    Spark prunes bronze's ingest_date partitions and Delta skips files statically. On a full
    refresh (or the first run) they are `true`: everything is read.
-#}

{% macro last_run_value(column, relation=none) -%}
    {#- The newest `column` in `relation` (default: this model), as a SQL timestamp literal. -#}
    {%- if not execute -%}
        {{ return("timestamp'1970-01-01 00:00:00'") }}
    {%- endif -%}
    {%- set query -%}
        select cast(max({{ column }}) as string) from {{ relation if relation is not none else this }}
    {%- endset -%}
    {%- set newest = run_query(query).columns[0].values()[0] -%}
    {{ return("timestamp'" ~ (newest or '1970-01-01 00:00:00') ~ "'") }}
{%- endmacro %}


{% macro changed_since_last_run(column, high_water_mark) -%}
    {#- Rows of an upstream model whose `column` is newer than this model's high-water mark. -#}
    {%- if is_incremental() -%}
        {{ column }} > {{ last_run_value(high_water_mark) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro ingested_since_last_run(high_water_mark) -%}
    {#-
        Staging rows ingested since this model's high-water mark, less
        var('silver_lookback_hours') for late arrivals; the same bound on ingest_date.
    -#}
    {%- if is_incremental() -%}
        {{ ingested_since(this, high_water_mark) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro ingested_since(relation, high_water_mark) -%}
    {#-
        Staging rows that an incremental `relation` has not read yet: ingested after the
        greater of its newest `high_water_mark` and the mark record_ingested_through() left on
        it, less var('silver_lookback_hours'). The staging tests use it too (macros/testing).
    -#}
    {#- It is inlined into SQL, and operators pass it (Airflow params, --vars): check it. -#}
    {%- set lookback = var('silver_lookback_hours') | string | trim -%}
    {%- if not lookback.isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "var silver_lookback_hours must be a whole number of hours, got '" ~ lookback ~ "'") }}
    {%- endif -%}
    {%- set newest = last_run_value(high_water_mark, relation) -%}
    {%- set read_through = ingested_through_mark(relation) -%}
    {%- if read_through is not none -%}
        {%- set newest = 'greatest(' ~ newest ~ ', ' ~ read_through ~ ')' -%}
    {%- endif -%}
    {%- set since = 'timestampadd(hour, -' ~ lookback ~ ', ' ~ newest ~ ')' -%}
    _ingested_at > {{ since }} and ingest_date >= to_date({{ since }})
{%- endmacro %}


{#-
    A model that keeps only some of what it reads (quarantine: the invalid rows) cannot tell
    from its own rows how far it has read: after a clean day its newest row is old, and it
    would re-read everything since. Such a model records, after each run, the newest
    _ingested_at of its inputs in a Delta table property (microseconds since the epoch, so
    that no session time zone can shift it):
        post_hook="{{ record_ingested_through([ref('stg_a'), ref('stg_b')]) }}"
    A row committed between the model's read and this hook, with an older _ingested_at, is
    covered by the lookback (a micro-batch commits within seconds of its timestamp).
-#}

{% macro record_ingested_through(inputs) -%}
    {%- if execute -%}
        {%- set query -%}
            select unix_micros(max(_ingested_at)) from (
            {%- for input in inputs %}
                select max(_ingested_at) as _ingested_at from {{ input }}
                {{- '\n                union all' if not loop.last }}
            {%- endfor %}
            )
        {%- endset -%}
        {%- set newest = run_query(query).columns[0].values()[0] -%}
        {#- Unchanged (nothing new was ingested): no commit, so an idle run writes nothing. -#}
        {%- if newest is not none and (newest | int) != ingested_through_micros(this) -%}
            alter table {{ this }} set tblproperties ('lakehouse.ingested_through' = '{{ newest | int }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{% macro may_record_ingested_through(relation) -%}
    {#-
        False when `relation` is a model of this project without record_ingested_through() in
        its post-hooks, so it has no mark to look up: that saves a `show tblproperties` round
        trip per model and per staging test on each build. Ignoring a mark is safe anyway: a
        model then reads from its newest row, more than it needs, never less.
    -#}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and node.alias | lower == relation.identifier | lower
            and node.schema | lower == relation.schema | lower -%}
        {%- for hook in node.config['post-hook'] if 'record_ingested_through' in hook.sql -%}
            {{ return(true) }}
        {%- endfor -%}
        {{ return(false) }}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}


{% macro ingested_through_micros(relation) -%}
    {#- The mark record_ingested_through() left on `relation` (microseconds), or none. -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for row in run_query('show tblproperties ' ~ relation) -%}
        {%- if row[0] == 'lakehouse.ingested_through' -%}
            {{ return(row[1] | int) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{% macro ingested_through_mark(relation) -%}
    {#- The same mark as a timestamp literal; none if there is none or `relation` keeps none. -#}
    {%- if not may_record_ingested_through(relation) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set micros = ingested_through_micros(relation) -%}
    {{ return(none if micros is none else 'timestamp_micros(' ~ micros ~ ')') }}
{%- endmacro %}
