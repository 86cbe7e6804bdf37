{% test freshness_gate(model, column_name, warn_after_hours, error_after_hours) %}
{#-
    `dbt source freshness` as a data test, so that it runs inside `dbt build`: the pipeline
    DAG's staging layer checks bronze's freshness without a dbt process and a task of its own
    (docs/orchestration.md). The failure count is the minutes since the newest value of
    column_name (a day past error_after_hours when the table is empty), so the test warns past
    warn_after_hours and errors past error_after_hours, as the source's `freshness` config
    does. It checks only where var bronze_freshness_gate is true (the DAG sets it when the run
    ingested): a build of yesterday's bronze on a laptop must not fail for its age.
-#}
{{ config(
    fail_calc='coalesce(max(minutes_stale), 0)',
    warn_if='>' ~ (warn_after_hours | int) * 60,
    error_if='>' ~ (error_after_hours | int) * 60,
) }}

with

newest as (

    select max({{ column_name }}) as newest_at from {{ model }}

),

final as (

    select
        newest_at,
        coalesce(
            cast(floor((unix_timestamp() - unix_timestamp(newest_at)) / 60) as int),
            ({{ error_after_hours | int }} + 24) * 60
        ) as minutes_stale
    from newest
    where {{ 'true' if var('bronze_freshness_gate') | string | lower in ('true', '1') else 'false' }}

)

select * from final
{% endtest %}
