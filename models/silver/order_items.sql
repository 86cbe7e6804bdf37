{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='order_item_id',
        on_schema_change='append_new_columns',
    )
}}

{#-
    One row per line of each order's current state. Incremental runs rebuild the lines of the
    orders that silver orders changed since the newest order_last_ingested_at here. (An order
    whose newer state has fewer lines would keep its extra old lines; the shop's events never
    change an order's items.)
-#}

with

orders as (

    select * from {{ ref('orders') }}
    {% if is_incremental() -%}
        where last_ingested_at > (select max(order_last_ingested_at) from {{ this }})
    {%- endif %}

),

lines as (

    select
        orders.order_id,
        orders.currency,
        orders.last_ingested_at,
        posexplode(orders.items) as (line_index, item)
    from orders

),

final as (

    select
        concat(order_id, '-', line_index + 1) as order_item_id,
        order_id,
        line_index + 1 as line_number,
        item.sku,
        item.quantity,
        item.unit_price,
        cast(item.quantity * item.unit_price as decimal(18, 2)) as line_total,
        currency,
        last_ingested_at as order_last_ingested_at
    from lines

)

select * from final
