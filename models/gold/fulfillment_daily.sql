{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='fulfillment_date',
        on_schema_change='fail',
    )
}}

{#-
    Per UTC day, how many orders reached paid, shipped and delivered (the first time each
    did, by event time, from order_status_history), and how long they took: the median and
    90th percentile hours from placed to paid, over the orders paid that day, and from paid to
    shipped, over the orders shipped that day. Aggregated each run from the whole history (a
    late event can move a milestone to another day); the sync strategy writes only the days
    whose numbers changed.
-#}

with

order_status_history as (

    select * from {{ ref('order_status_history') }}

),

milestones as (

    select
        order_id,
        min(case when status = 'placed' then valid_from end) as placed_at,
        min(case when status = 'paid' then valid_from end) as paid_at,
        min(case when status = 'shipped' then valid_from end) as shipped_at,
        min(case when status = 'delivered' then valid_from end) as delivered_at
    from order_status_history
    group by order_id

),

reached as (

    select
        to_date(paid_at) as fulfillment_date,
        'paid' as milestone,
        (unix_micros(paid_at) - unix_micros(placed_at)) / 3.6e9 as hours_taken
    from milestones
    where paid_at is not null

    union all

    select
        to_date(shipped_at) as fulfillment_date,
        'shipped' as milestone,
        (unix_micros(shipped_at) - unix_micros(paid_at)) / 3.6e9 as hours_taken
    from milestones
    where shipped_at is not null

    union all

    select
        to_date(delivered_at) as fulfillment_date,
        'delivered' as milestone,
        null as hours_taken
    from milestones
    where delivered_at is not null

),

final as (

    select
        fulfillment_date,
        count_if(milestone = 'paid') as orders_paid,
        count_if(milestone = 'shipped') as orders_shipped,
        count_if(milestone = 'delivered') as orders_delivered,
        cast(
            percentile(case when milestone = 'paid' then hours_taken end, 0.5) as decimal(10, 2)
        ) as median_hours_placed_to_paid,
        cast(
            percentile(case when milestone = 'paid' then hours_taken end, 0.9) as decimal(10, 2)
        ) as p90_hours_placed_to_paid,
        cast(
            percentile(case when milestone = 'shipped' then hours_taken end, 0.5)
            as decimal(10, 2)
        ) as median_hours_paid_to_shipped,
        cast(
            percentile(case when milestone = 'shipped' then hours_taken end, 0.9)
            as decimal(10, 2)
        ) as p90_hours_paid_to_shipped
    from reached
    group by fulfillment_date

)

select * from final
