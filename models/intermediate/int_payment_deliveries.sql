{#- No statistics on personal columns: docs/design.md#erasure. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key='delivery_id',
        on_schema_change='append_new_columns',
        tblproperties={'delta.dataSkippingStatsColumns': (
            'delivery_id,kafka_topic,kafka_partition,kafka_offset,_ingested_at,ingest_date'
        )},
    )
}}

{#- The payments topic's deliveries, kept as int_order_deliveries keeps the orders'. -#}

{%- set unread = unread_rows('_ingested_at') %}

with

deliveries as (

    select * from {{ ref('stg_shop__payments') }}
    where {{ unread }}

),

final as (

    select
        {{ delivery_id() }} as delivery_id,
        deliveries.event_id,
        deliveries.payment_id,
        deliveries.order_id,
        deliveries.event_at,
        deliveries.status,
        deliveries.method,
        deliveries.currency,
        deliveries.amount,
        deliveries.schema_version,
        deliveries.payload_hash,
        deliveries.is_valid,
        deliveries.invalid_reason,
        deliveries.is_malformed,
        deliveries.raw_value,
        deliveries.kafka_topic,
        deliveries.kafka_partition,
        deliveries.kafka_offset,
        deliveries.published_at,
        deliveries._ingested_at,
        deliveries.ingest_date
    from deliveries
    {{ not_held_yet('deliveries', unread) }}

)

select * from final
