{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='customer_id',
        on_schema_change='fail',
        meta={'zorder_by': ['customer_id']},
    )
}}

{#-
    Incremental: customers with an order changed in fct_orders since the newest
    source_last_ingested_at here are recomputed from all of their orders.
-#}

with

fct_orders as (

    select * from {{ ref('fct_orders') }}

),

changed_customers as (

    select distinct fct_orders.customer_id from fct_orders
    where {{
        changed_since_read_mark('fct_orders.source_last_ingested_at', 'source_last_ingested_at')
    }}

),


final as (

    select
        fct_orders.customer_id,
        max(fct_orders.customer_email_hash) as customer_email_hash,
        min(fct_orders.placed_at) as first_order_at,
        max(fct_orders.placed_at) as last_order_at,
        count_if(not fct_orders.is_cancelled) as orders_count,
        cast(
            coalesce(
                sum(case when not fct_orders.is_cancelled then fct_orders.order_total_usd end), 0
            ) as decimal(18, 2)
        ) as lifetime_value_usd,
        max(fct_orders.source_last_ingested_at) as source_last_ingested_at
    from fct_orders
    inner join changed_customers on fct_orders.customer_id = changed_customers.customer_id
    group by fct_orders.customer_id

)

select * from final
