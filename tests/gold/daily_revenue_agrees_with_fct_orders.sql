{#-
    Per day, daily_revenue equals fct_orders grouped by order_date: a day an order left (its
    placed_at moved), or joined, is recomputed. Returns the days where they differ.
-#}

with

fct_orders as (

    select * from {{ ref('fct_orders') }}

),

daily_revenue as (

    select * from {{ ref('daily_revenue') }}

),

from_orders as (

    select
        order_date,
        count(*) as orders_placed,
        count_if(is_cancelled) as orders_cancelled,
        coalesce(sum(case when not is_cancelled then order_total_usd end), 0)
            as gross_revenue_usd,
        sum(net_paid_usd) as net_paid_usd
    from fct_orders
    group by order_date

),

final as (

    select
        coalesce(from_orders.order_date, daily_revenue.order_date) as order_date,
        from_orders.orders_placed as orders_in_fct_orders,
        daily_revenue.orders_placed as orders_in_daily_revenue,
        from_orders.gross_revenue_usd as gross_in_fct_orders,
        daily_revenue.gross_revenue_usd as gross_in_daily_revenue
    from from_orders
    full outer join daily_revenue on from_orders.order_date = daily_revenue.order_date
    where
        not (from_orders.orders_placed <=> daily_revenue.orders_placed)
        or not (from_orders.orders_cancelled <=> daily_revenue.orders_cancelled)
        or not (from_orders.gross_revenue_usd <=> daily_revenue.gross_revenue_usd)
        or not (from_orders.net_paid_usd <=> daily_revenue.net_paid_usd)

)

select * from final
