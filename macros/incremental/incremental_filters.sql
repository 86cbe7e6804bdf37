{#-
    Filters that make an incremental run cost what is new. Each looks up the model's
    high-water mark once, at compile time, and inlines it as a timestamp literal, so that
    Spark prunes bronze's ingest_date partitions statically. On a full refresh (or the first
    run) they are `true`: everything is read.
-#}

{% macro last_run_value(column) -%}
    {#- The newest `column` in this model's table, as a SQL timestamp literal. -#}
    {%- if not execute -%}
        {{ return("timestamp'1970-01-01 00:00:00'") }}
    {%- endif -%}
    {%- set query -%}
        select cast(max({{ column }}) as string) from {{ this }}
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
        {#- It is inlined into SQL, and operators pass it (Airflow params, --vars): check it. -#}
        {%- set lookback = var('silver_lookback_hours') | string | trim -%}
        {%- if not lookback.isdigit() -%}
            {{ exceptions.raise_compiler_error(
                "var silver_lookback_hours must be a whole number of hours, got '" ~ lookback ~ "'") }}
        {%- endif -%}
        {%- set since = 'timestampadd(hour, -' ~ lookback ~ ', '
            ~ last_run_value(high_water_mark) ~ ')' -%}
        _ingested_at > {{ since }} and ingest_date >= to_date({{ since }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
