{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='order_date',
        on_schema_change='fail',
        meta={'zorder_by': ['order_date']},
    )
}}

{#-
    Aggregated each run from all of fct_orders (one row per order: seconds even at millions),
    because an order's date can move earlier when a late order_placed arrives. The sync
    strategy (macros/merge/strategies.sql) then writes only the days whose numbers changed and
    deletes days left with no order: a run with nothing new writes nothing.
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
