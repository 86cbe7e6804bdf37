{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='quarantine_id',
        meta={'merge': {'order_by': ['first_seen_at']}},
        post_hook="{{ record_ingested_through([ref('stg_shop__orders'), ref('stg_shop__payments')]) }}",
    )
}}

{#-
    Every record that breaks the contract, from both topics, with the first reason found:
    never in silver. is_malformed marks the structure failures, which the ingest job also
    dead-lettered; the others (unknown values, negative money, unknown currencies) reach
    Kafka consumers as valid JSON. E-mail addresses in raw_value are masked in staging.
    Its newest row says little about how far it has read (a clean day adds none), so it
    records that in a table property (macros/incremental/incremental_filters.sql).
-#}

{%- set staging_models = ['stg_shop__orders', 'stg_shop__payments'] %}

with

invalid as (

    {% for staging_model in staging_models -%}
        select
            kafka_topic,
            kafka_partition,
            kafka_offset,
            raw_value,
            invalid_reason,
            is_malformed,
            _ingested_at,
            ingest_date
        from {{ ref(staging_model) }}
        where not is_valid
        {% if not loop.last %}
            union all

        {% endif -%}
    {%- endfor %}

),

filtered as (

    select * from invalid
    where {{ ingested_since_last_run('first_seen_at') }}

),

final as (

    select
        concat(kafka_topic, '/', kafka_partition, '/', kafka_offset) as quarantine_id,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        invalid_reason,
        is_malformed,
        raw_value,
        _ingested_at as first_seen_at
    from filtered

)

select * from final
