{#-
    Read marks: how far an incremental model has read, so that a run costs what is new.

    - read_mark(column, relation): how far `relation` (default: this model) has read, as a
      SQL timestamp literal: its newest `column`, or the mark it recorded, if later. It is
      looked up once, at compile time, and inlined, so that Spark prunes bronze's ingest_date
      partitions and Delta skips files statically.
    - unread_rows(column): the filter for a model that reads bronze's rows (staging, or the
      deliveries models that keep them): rows ingested after this model's read mark, less
      var('silver_lookback_hours') for late arrivals.
    - unread_by(relation, column): the same filter for any model; the gates on the deliveries
      name it `__unread_by(<model>, <column>)__` in their `where`
      (macros/testing/where_subquery.sql).
    - changed_since_read_mark(upstream_column, column): the filter for a model that reads
      another model: its rows whose `upstream_column` is newer than this model's read mark.
    - record_read_mark(inputs, column): a post-hook for a model that keeps only some of what
      it reads (quarantine: the invalid rows), whose newest row therefore says little about how
      far it has read. It records the newest _ingested_at of its inputs in a Delta table
      property, looking only past the model's read mark from `column` (less the lookback).
      Such a model says so in its config, meta={'read_mark': 'recorded'}: only those are
      asked for a recorded mark (has_recorded_read_mark; a `show tblproperties` round trip).
    On a full refresh, or the first run, the filters are `true`: everything is read.
-#}

{% macro read_mark(column, relation=none) -%}
    {%- set relation = this if relation is none else relation -%}
    {%- if not execute -%}
        {{ return("timestamp'1970-01-01 00:00:00'") }}
    {%- endif -%}
    {%- set query -%}
        select cast(max({{ column }}) as string) from {{ relation }}
    {%- endset -%}
    {%- set newest = run_query(query).columns[0].values()[0] -%}
    {%- set mark = "timestamp'" ~ (newest or '1970-01-01 00:00:00') ~ "'" -%}
    {%- set recorded = recorded_read_mark_micros(relation) if has_recorded_read_mark(relation) else none -%}
    {%- if recorded is not none -%}
        {%- set mark = 'greatest(' ~ mark ~ ', timestamp_micros(' ~ recorded ~ '))' -%}
    {%- endif -%}
    {{ return(mark) }}
{%- endmacro %}


{% macro unread_rows(column) -%}
    {%- if is_incremental() -%}
        {{ unread_by(this, column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro unread_by(relation, column) -%}
    {#- Rows of bronze (staging's, or the deliveries') `relation` has not read yet (its read
        mark, less the lookback). The gates use it too (macros/testing/where_subquery.sql). -#}
    {#- It is inlined into SQL, and operators pass it (Airflow params, --vars): check it. -#}
    {%- set lookback = var('silver_lookback_hours') | string | trim -%}
    {%- if not lookback.isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "var silver_lookback_hours must be a whole number of hours, got '" ~ lookback ~ "'") }}
    {%- endif -%}
    {%- set since = 'timestampadd(hour, -' ~ lookback ~ ', ' ~ read_mark(column, relation) ~ ')' -%}
    _ingested_at > {{ since }} and ingest_date >= to_date({{ since }})
{%- endmacro %}


{% macro changed_since_read_mark(upstream_column, column, mark=none) -%}
    {#- `mark`: read_mark(column) when the caller has it already (one query for two filters). -#}
    {%- if is_incremental() -%}
        {{ upstream_column }} > {{ mark if mark is not none else read_mark(column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro record_read_mark(inputs, column) -%}
    {#-
        A row committed between the model's read and this hook, with an older _ingested_at, is
        covered by the lookback (a micro-batch commits within seconds of its timestamp).
        Only rows past the read mark as it now stands are read (so no scan of all of bronze):
        the mark is at most the newest input, so either a newer row exists and is found, or
        the mark already stands at the newest and nothing needs recording.
    -#}
    {%- if execute -%}
        {%- if (config.get('meta') or {}).get('read_mark') != 'recorded' -%}
            {{ exceptions.raise_compiler_error(
                "record_read_mark: say meta={'read_mark': 'recorded'} in this model's config, "
                ~ "or its mark is never looked up") }}
        {%- endif -%}
        {%- set unread = unread_rows(column) -%}
        {%- set query -%}
            select unix_micros(max(_ingested_at)) from (
            {%- for input in inputs %}
                select max(_ingested_at) as _ingested_at from {{ input }}
                where {{ unread }}
                {{- '\n                union all' if not loop.last }}
            {%- endfor %}
            )
        {%- endset -%}
        {%- set newest = run_query(query).columns[0].values()[0] -%}
        {#- Unchanged (nothing new was ingested): no commit, so an idle run writes nothing. -#}
        {%- if newest is not none and (newest | int) != recorded_read_mark_micros(this) -%}
            alter table {{ this }} set tblproperties ('lakehouse.ingested_through' = '{{ newest | int }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{% macro has_recorded_read_mark(relation) -%}
    {#- False for a model of this project without meta.read_mark = 'recorded': no lookup. -#}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and node.alias | lower == relation.identifier | lower
            and node.schema | lower == relation.schema | lower -%}
        {{ return(node.config.meta.get('read_mark') == 'recorded') }}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}


{% macro recorded_read_mark_micros(relation) -%}
    {#- The mark record_read_mark() left on `relation` (microseconds since the epoch, so that
        no session time zone can shift it), or none. -#}
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
