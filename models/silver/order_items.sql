{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='order_item_id',
        meta={'sync': {'scope': 'order_id'}},
        on_schema_change='append_new_columns',
    )
}}

{#-
    Incremental runs select every line of the orders that silver orders changed since the
    newest order_last_ingested_at here. The sync strategy, scoped to order_id
    (macros/merge/strategies.sql), then writes the lines that differ and deletes the lines of
    those orders that their newest state no longer has: an order's items may shrink, grow or
    change with any event.
-#}

with

orders as (

    select * from {{ ref('orders') }}
    where {{ changed_since_read_mark('last_ingested_at', 'order_last_ingested_at') }}

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
        concat(lines.order_id, '-', lines.line_index + 1) as order_item_id,
        lines.order_id,
        lines.line_index + 1 as line_number,
        lines.item.sku,
        lines.item.quantity,
        lines.item.unit_price,
        cast(lines.item.quantity * lines.item.unit_price as decimal(18, 2)) as line_total,
        lines.currency,
        lines.last_ingested_at as order_last_ingested_at
    from lines

)

select * from final
