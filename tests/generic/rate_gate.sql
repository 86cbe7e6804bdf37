{% test rate_gate(model, condition, warn_above_pct, error_above_pct) %}
{#-
    A data-quality rate: the share of the model's rows (those its `where` config keeps) that meet
    `condition`. The test reports the rate in basis points as its failure count, so one
    test warns above warn_above_pct and errors above error_above_pct.
-#}
{{ config(
    fail_calc='coalesce(max(rate_bp), 0)',
    warn_if='>' ~ (warn_above_pct * 100) | int,
    error_if='>' ~ (error_above_pct * 100) | int,
) }}

with

tested as (

    select * from {{ model }}

),

rate as (

    select
        {{ rate_in_basis_points('count_if(' ~ condition ~ ')', 'count(*)') }} as rate_bp,
        count_if({{ condition }}) as matching_rows,
        count(*) as all_rows
    from tested
    having count(*) > 0

)

select * from rate
{% endtest %}
