{{
    config(
        materialized='incremental',
        incremental_strategy='sync',
        unique_key='order_status_interval_id',
        meta={'sync': {'scope': 'order_id'}},
        on_schema_change='append_new_columns',
    )
}}

{#-
    Slowly changing, type 2, by event time: one row per order and status interval. An
    interval opens at the event that changed the status (in the ordering rule's sequence:
    event_sequence) and closes when the next one opens; events that repeat the status open
    none. Incremental runs rebuild the whole history of each order that received events since
    the newest order_last_ingested_at here, from int_order_events, so a late event lands in
    the past and splits the interval it falls into; the sync strategy, scoped to order_id,
    writes the intervals that differ and deletes those that no longer exist.
-#}

with

order_events as (

    select * from {{ ref('int_order_events') }}

),

changed_orders as (

    select distinct order_id from order_events
    where {{ changed_since_read_mark('_ingested_at', 'order_last_ingested_at') }}

),

events as (

    select
        order_events.*,
        lag(order_events.status) over (
            partition by order_events.order_id
            order by {{ event_sequence() }}
        ) as previous_status,
        max(order_events._ingested_at) over (
            partition by order_events.order_id
        ) as order_last_ingested_at
    from order_events
    left semi join changed_orders
        on order_events.order_id = changed_orders.order_id

),

status_changes as (

    select * from events
    where previous_status is null or status != previous_status

),

intervals as (

    select
        *,
        lead(event_at) over (
            partition by order_id
            order by {{ event_sequence() }}
        ) as next_change_at
    from status_changes

),

final as (

    select
        sha2(concat_ws('|', order_id, event_id), 256) as order_status_interval_id,
        order_id,
        status,
        previous_status,
        event_at as valid_from,
        next_change_at as valid_to,
        next_change_at is null as is_current,
        event_id as opened_by_event_id,
        event_type as opened_by_event_type,
        order_last_ingested_at
    from intervals

)

select * from final
