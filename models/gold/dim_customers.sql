{#- No statistics on personal columns: docs/design.md#erasure. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='customer_id',
        on_schema_change='fail',
        tblproperties={'delta.dataSkippingStatsColumns': (
            'first_order_at,last_order_at,orders_count,lifetime_value_usd,'
            'source_last_ingested_at'
        )},
        meta={'erasure': 'delete_rows'},
    )
}}

{#-
    Aggregated each run from all of fct_orders, like daily_revenue: an order can move to
    another customer, and both the customer it leaves and the one it joins must be
    recomputed, which the changed rows alone cannot say (they hold only the new owner). The
    sync strategy (macros/merge/strategies.sql) writes only the customers whose numbers
    changed and deletes customers left with no order: a run with nothing new writes nothing.
-#}

with

fct_orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        customer_id,
        max_by(customer_email_hash, struct(last_event_at, order_id)) as customer_email_hash,
        min(placed_at) as first_order_at,
        max(placed_at) as last_order_at,
        count_if(not is_cancelled) as orders_count,
        cast(
            coalesce(sum(case when not is_cancelled then order_total_usd end), 0) as decimal(18, 2)
        ) as lifetime_value_usd,
        max(source_last_ingested_at) as source_last_ingested_at
    from fct_orders
    group by customer_id

)

select * from final
