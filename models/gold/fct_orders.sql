{#- No statistics on personal columns: docs/design.md#erasure. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='order_id',
        on_schema_change='fail',
        tblproperties={'delta.dataSkippingStatsColumns': (
            'order_id,status,currency,order_total,channel,placed_at,'
            'order_date,last_event_at,amount_captured,amount_refunded,net_paid,'
            'payments_count,rate_to_usd,order_total_usd,net_paid_usd,'
            'source_last_ingested_at'
        )},
        meta={'zorder_by': ['order_date']},
    )
}}

{#-
    Incremental: only orders whose state or payments changed since the newest
    source_last_ingested_at here are recomputed, each from all of its silver rows, so a run
    costs what changed; and the orders whose day's exchange rate is not the one they were
    converted at (a rate published or corrected later), found from this table's own
    order_date and rate_to_usd. An order converts at the rate of its UTC day, or else at the
    latest earlier rate of its currency; with none, rate_to_usd is null and its test fails.
-#}

{#- Both changed-since filters compare with the same read mark: look it up once. -#}
{%- set source_read_mark = read_mark('source_last_ingested_at') if is_incremental() else none %}

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

order_days as (

    select distinct
        currency,
        to_date(placed_at) as order_date
    from orders

),

day_rates as (

    select
        order_days.currency,
        order_days.order_date,
        max_by(exchange_rates.rate_to_usd, exchange_rates.rate_date) as rate_to_usd
    from order_days
    left join exchange_rates
        on
            order_days.currency = exchange_rates.currency_code
            and order_days.order_date >= exchange_rates.rate_date
    group by order_days.currency, order_days.order_date

),

changed_orders as (

    select orders.order_id from orders
    where {{ changed_since_read_mark(
        'orders.last_ingested_at', 'source_last_ingested_at', mark=source_read_mark
    ) }}
    union
    select payments.order_id from payments
    where {{ changed_since_read_mark(
        'payments.last_ingested_at', 'source_last_ingested_at', mark=source_read_mark
    ) }}
    {%- if is_incremental() %}
        union
        select converted.order_id from {{ this }} as converted
        left join day_rates
            on
                converted.currency = day_rates.currency
                and converted.order_date = day_rates.order_date
        where not (converted.rate_to_usd <=> day_rates.rate_to_usd)
    {%- endif %}

),


payment_totals as (

    {#- The changed orders' payments only: all of them would be aggregated on every run. #}
    select
        payments.order_id,
        coalesce(sum(case when payments.is_captured then payments.amount end), 0)
            as amount_captured,
        coalesce(sum(case when payments.is_refunded then payments.amount end), 0)
            as amount_refunded,
        count(*) as payments_count,
        max(payments.last_ingested_at) as payments_last_ingested_at
    from payments
    left semi join changed_orders on payments.order_id = changed_orders.order_id
    group by payments.order_id

),

joined as (

    select
        orders.*,
        day_rates.rate_to_usd,
        coalesce(payment_totals.amount_captured, 0) as captured,
        coalesce(payment_totals.amount_refunded, 0) as refunded,
        coalesce(payment_totals.payments_count, 0) as payments_count,
        greatest(orders.last_ingested_at, payment_totals.payments_last_ingested_at)
            as source_last_ingested_at
    from orders
    inner join changed_orders on orders.order_id = changed_orders.order_id
    left join payment_totals on orders.order_id = payment_totals.order_id
    left join day_rates
        on
            orders.currency = day_rates.currency
            and to_date(orders.placed_at) = day_rates.order_date

),

final as (

    select
        order_id,
        customer_id,
        customer_email_hash,
        status,
        is_cancelled,
        currency,
        order_total,
        channel,
        placed_at,
        to_date(placed_at) as order_date,
        last_event_at,
        cast(captured as decimal(18, 2)) as amount_captured,
        cast(refunded as decimal(18, 2)) as amount_refunded,
        cast(captured - refunded as decimal(18, 2)) as net_paid,
        captured - refunded >= order_total as is_fully_paid,
        payments_count,
        rate_to_usd,
        cast(round(order_total * rate_to_usd, 2) as decimal(18, 2)) as order_total_usd,
        cast(round((captured - refunded) * rate_to_usd, 2) as decimal(18, 2)) as net_paid_usd,
        source_last_ingested_at
    from joined

)

select * from final
