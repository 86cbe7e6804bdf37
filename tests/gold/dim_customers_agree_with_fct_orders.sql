{#-
    Per customer, dim_customers' counts and sums equal those of fct_orders: a customer an
    order left, or joined, is recomputed. Returns the customers where they differ.
-#}

with

fct_orders as (

    select * from {{ ref('fct_orders') }}

),

dim_customers as (

    select * from {{ ref('dim_customers') }}

),

from_orders as (

    select
        customer_id,
        count_if(not is_cancelled) as orders_count,
        coalesce(sum(case when not is_cancelled then order_total_usd end), 0)
            as lifetime_value_usd,
        min(placed_at) as first_order_at,
        max(placed_at) as last_order_at
    from fct_orders
    group by customer_id

),

final as (

    select
        coalesce(from_orders.customer_id, dim_customers.customer_id) as customer_id,
        from_orders.orders_count as orders_in_fct_orders,
        dim_customers.orders_count as orders_in_dim_customers,
        from_orders.lifetime_value_usd as value_in_fct_orders,
        dim_customers.lifetime_value_usd as value_in_dim_customers
    from from_orders
    full outer join dim_customers on from_orders.customer_id = dim_customers.customer_id
    where
        not (from_orders.orders_count <=> dim_customers.orders_count)
        or not (from_orders.lifetime_value_usd <=> dim_customers.lifetime_value_usd)
        or not (from_orders.first_order_at <=> dim_customers.first_order_at)
        or not (from_orders.last_order_at <=> dim_customers.last_order_at)

)

select * from final
