{{ config(materialized='table', meta={'zorder_by': ['order_date']}) }}

{#-
    One row per order date (UTC date of placed_at). A table, rebuilt each run from fct_orders
    (one row per order: seconds even at millions): an order's date can move earlier when a
    late order_placed arrives, which a merge keyed on the new date would count twice.
-#}

with

fct_orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        order_date,
        count(*) as orders_placed,
        count_if(is_cancelled) as orders_cancelled,
        cast(
            coalesce(sum(case when not is_cancelled then order_total_usd end), 0) as decimal(18, 2)
        ) as gross_revenue_usd,
        cast(sum(net_paid_usd) as decimal(18, 2)) as net_paid_usd
    from fct_orders
    group by order_date

)

select * from final
