{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='order_id',
        on_schema_change='fail',
    )
}}

{#-
    One row per order in silver, with what was paid and the amounts in USD. Incremental: only
    orders whose state or payments changed since the newest source_last_ingested_at here are
    recomputed, each from all of its silver rows, so a run costs what changed.
-#}

with

orders as (

    select * from {{ ref('orders') }}

),

payments as (

    select * from {{ ref('payments') }}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

{% if is_incremental() -%}
changed_orders as (

    select orders.order_id from orders
    where orders.last_ingested_at > (select max(source_last_ingested_at) from {{ this }})
    union
    select payments.order_id from payments
    where payments.last_ingested_at > (select max(source_last_ingested_at) from {{ this }})

),

{% endif -%}

payment_totals as (

    select
        order_id,
        coalesce(sum(case when is_captured then amount end), 0) as amount_captured,
        coalesce(sum(case when is_refunded then amount end), 0) as amount_refunded,
        count(*) as payments_count,
        max(last_ingested_at) as payments_last_ingested_at
    from payments
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.customer_email_hash,
        orders.status,
        orders.is_cancelled,
        orders.currency,
        orders.order_total,
        orders.channel,
        orders.placed_at,
        to_date(orders.placed_at) as order_date,
        orders.last_event_at,
        cast(coalesce(payment_totals.amount_captured, 0) as decimal(18, 2)) as amount_captured,
        cast(coalesce(payment_totals.amount_refunded, 0) as decimal(18, 2)) as amount_refunded,
        cast(
            coalesce(payment_totals.amount_captured, 0) - coalesce(payment_totals.amount_refunded, 0)
            as decimal(18, 2)
        ) as net_paid,
        coalesce(payment_totals.amount_captured, 0) - coalesce(payment_totals.amount_refunded, 0)
        >= orders.order_total as is_fully_paid,
        coalesce(payment_totals.payments_count, 0) as payments_count,
        exchange_rates.rate_to_usd,
        cast(round(orders.order_total * exchange_rates.rate_to_usd, 2) as decimal(18, 2))
            as order_total_usd,
        cast(
            round(
                (coalesce(payment_totals.amount_captured, 0) - coalesce(payment_totals.amount_refunded, 0))
                * exchange_rates.rate_to_usd,
                2
            ) as decimal(18, 2)
        ) as net_paid_usd,
        greatest(orders.last_ingested_at, payment_totals.payments_last_ingested_at)
            as source_last_ingested_at
    from orders
    left join payment_totals on orders.order_id = payment_totals.order_id
    left join exchange_rates on orders.currency = exchange_rates.currency_code
    {% if is_incremental() -%}
        inner join changed_orders on orders.order_id = changed_orders.order_id
    {%- endif %}

)

select * from final
