{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='fulfillment_date',
        meta={'sync': {'scope': 'fulfillment_date'}},
        on_schema_change='fail',
    )
}}

{#-
    Per UTC day on which any order event happened (by event time), how many orders first
    reached paid, shipped and delivered that day (from order_status_history), and how long
    they took: the median and 90th percentile hours from placed to paid, over the orders paid
    that day, and from paid to shipped, over the orders shipped that day.

    An incremental run recomputes only the days on which an order that received events since
    the read mark has any event: a late event can move an order's milestone only earlier, from
    one of its events' days to another's, so no other day's numbers can change. Events are
    never removed (erasure rewrites them), so a day never leaves the table, and a day with
    events but no milestone keeps a row of zeros. The sync strategy, scoped to those days,
    writes only the rows that changed.
-#}

with

order_events as (

    select * from {{ ref('int_order_events') }}

),

order_status_history as (

    select * from {{ ref('order_status_history') }}

),

changed_orders as (

    select distinct order_id from order_events
    where {{ changed_since_read_mark('_ingested_at', 'last_ingested_at') }}

),

days as (

    select
        to_date(order_events.event_at) as fulfillment_date,
        max(order_events._ingested_at) as last_ingested_at
    from order_events
    left semi join changed_orders
        on order_events.order_id = changed_orders.order_id
    group by to_date(order_events.event_at)

),

milestone_orders as (

    {#- The orders that may reach a milestone on one of the days: a first paid, shipped or
        delivered always opens an interval. -#}
    select distinct order_status_history.order_id
    from order_status_history
    left semi join days
        on to_date(order_status_history.valid_from) = days.fulfillment_date
    where order_status_history.status in ('paid', 'shipped', 'delivered')

),

milestone_intervals as (

    select order_status_history.*
    from order_status_history
    left semi join milestone_orders
        on order_status_history.order_id = milestone_orders.order_id

),

milestones as (

    select
        order_id,
        min(case when status = 'placed' then valid_from end) as placed_at,
        min(case when status = 'paid' then valid_from end) as paid_at,
        min(case when status = 'shipped' then valid_from end) as shipped_at,
        min(case when status = 'delivered' then valid_from end) as delivered_at
    from milestone_intervals
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

daily as (

    select
        fulfillment_date,
        count_if(milestone = 'paid') as orders_paid,
        count_if(milestone = 'shipped') as orders_shipped,
        count_if(milestone = 'delivered') as orders_delivered,
        percentile(case when milestone = 'paid' then hours_taken end, 0.5)
            as median_hours_placed_to_paid,
        percentile(case when milestone = 'paid' then hours_taken end, 0.9)
            as p90_hours_placed_to_paid,
        percentile(case when milestone = 'shipped' then hours_taken end, 0.5)
            as median_hours_paid_to_shipped,
        percentile(case when milestone = 'shipped' then hours_taken end, 0.9)
            as p90_hours_paid_to_shipped
    from reached
    group by fulfillment_date

),

previous_days as (

    {#- What the table holds for the days: a day's newest ingest time counts every event on
        it, and an incremental run reads only the changed orders' ones. -#}
    {%- if is_incremental() %}
        select
            fulfillment_date,
            last_ingested_at
        from {{ this }}
    {%- else %}
        select
            cast(null as date) as fulfillment_date,
            cast(null as timestamp) as last_ingested_at
        where false
    {%- endif %}

),

final as (

    select
        days.fulfillment_date,
        coalesce(daily.orders_paid, 0) as orders_paid,
        coalesce(daily.orders_shipped, 0) as orders_shipped,
        coalesce(daily.orders_delivered, 0) as orders_delivered,
        cast(daily.median_hours_placed_to_paid as decimal(10, 2)) as median_hours_placed_to_paid,
        cast(daily.p90_hours_placed_to_paid as decimal(10, 2)) as p90_hours_placed_to_paid,
        cast(daily.median_hours_paid_to_shipped as decimal(10, 2)) as median_hours_paid_to_shipped,
        cast(daily.p90_hours_paid_to_shipped as decimal(10, 2)) as p90_hours_paid_to_shipped,
        greatest(days.last_ingested_at, previous_days.last_ingested_at) as last_ingested_at
    from days
    left join daily
        on days.fulfillment_date = daily.fulfillment_date
    left join previous_days
        on days.fulfillment_date = previous_days.fulfillment_date

)

select * from final
