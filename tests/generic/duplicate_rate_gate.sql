{% test duplicate_rate_gate(model, column_name, warn_above_pct, error_above_pct) %}
{#- The share of rows whose value repeats an earlier row's (re-deliveries), in basis points. -#}
{{ config(
    fail_calc='coalesce(max(rate_bp), 0)',
    warn_if='>' ~ (warn_above_pct * 100) | int,
    error_if='>' ~ (error_above_pct * 100) | int,
) }}

select
    {{ rate_in_basis_points('count(*) - count(distinct ' ~ column_name ~ ')', 'count(*)') }}
        as rate_bp,
    count(*) - count(distinct {{ column_name }}) as repeated_rows,
    count(*) as all_rows
from {{ model }}
having count(*) > 0
{% endtest %}
