{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#-
    One row per event_id: its first valid delivery (the earliest in bronze: _ingested_at, then
    the Kafka coordinates) and a digest of what it said. Silver reads only first deliveries, so
    a re-delivery never counts, whatever its offset; quarantine flags a later delivery that
    says something else. Incremental runs append the event_ids not held yet, from the
    deliveries (staging's rows, kept: docs/dbt.md#checked-once) ingested since the newest
    _ingested_at here, less the lookback.
-#}

{%- set delivery_models = ['int_order_deliveries', 'int_payment_deliveries'] %}
{%- set unread = unread_rows('_ingested_at') %}

with

deliveries as (

    {% for delivery_model in delivery_models -%}
        select
            event_id,
            kafka_topic,
            kafka_partition,
            kafka_offset,
            payload_hash,
            _ingested_at,
            ingest_date
        from {{ ref(delivery_model) }}
        where is_valid and {{ unread }}
        {% if not loop.last %}
            union all

        {% endif -%}
    {%- endfor %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by _ingested_at asc, kafka_topic asc, kafka_partition asc, kafka_offset asc
        ) as delivery_rank
    from deliveries

),

final as (

    select
        event_id,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        payload_hash,
        _ingested_at,
        ingest_date
    from ranked
    where
        delivery_rank = 1
        {%- if is_incremental() %}
            and not exists (
                select 1 from {{ this }} as known
                where known.event_id = ranked.event_id
            )
        {%- endif %}

)

select * from final
