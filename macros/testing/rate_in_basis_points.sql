{#-
    `part` as a share of `whole` in basis points (hundredths of a percent): the failure count
    of the rate gates (tests/generic/rate_gate.sql, duplicate_rate_gate.sql), whose warn_if and
    error_if are in basis points too. An empty window gives null, not an error: Spark (ANSI
    on) computes the rate before the gates' `having count(*) > 0` drops the window's row.
-#}

{% macro rate_in_basis_points(part, whole) -%}
    cast(floor(10000 * ({{ part }}) / nullif({{ whole }}, 0)) as int)
{%- endmacro %}
