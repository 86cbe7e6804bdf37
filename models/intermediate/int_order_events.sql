{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#-
    One row per order event, at its first valid delivery (the ordering rule's first step):
    what order_status_history needs to rebuild an order's history, kept narrow so that a build
    reads every event of the orders that changed without going back to bronze. Incremental,
    append-only: a run adds the event_ids it does not hold yet.
-#}

{%- set unread = unread_rows('_ingested_at') %}

with

events as (

    {{ first_delivered_events(
        ref('int_order_deliveries'), ref('int_event_first_deliveries'), '_ingested_at',
        unread=unread
    ) }}

),

final as (

    select
        event_id,
        order_id,
        event_type,
        status,
        event_at,
        _ingested_at,
        ingest_date
    from events
    {%- if is_incremental() %}
        {#- An event held already was appended with the _ingested_at of the same first
            delivery, so it is among the rows of the same window: no need to scan them all. #}
        where not exists (
            select 1 from (
                select event_id from {{ this }}
                where {{ unread }}
            ) as known
            where known.event_id = events.event_id
        )
    {%- endif %}

)

select * from final
