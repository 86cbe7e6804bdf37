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

with

events as (

    {{ first_delivered_events(
        ref('stg_shop__orders'), ref('int_event_first_deliveries'), '_ingested_at'
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
        where not exists (
            select 1 from {{ this }} as known
            where known.event_id = events.event_id
        )
    {%- endif %}

)

select * from final
