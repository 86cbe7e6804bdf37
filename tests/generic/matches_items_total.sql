{% test matches_items_total(model, column_name, items_column='items', tolerance=0.01) %}
{#- The order total equals the sum of quantity x unit_price over its items, within cents. -#}
with

totals as (

    select
        {{ column_name }} as order_total,
        aggregate(
            {{ items_column }},
            cast(0 as decimal(38, 2)),
            (total, item) -> total + item.quantity * item.unit_price
        ) as items_total
    from {{ model }}

)

select * from totals
where abs(order_total - items_total) > {{ tolerance }}
{% endtest %}
