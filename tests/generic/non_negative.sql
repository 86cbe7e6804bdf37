{% test non_negative(model, column_name) %}
{#- Money and counts are never negative. -#}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
