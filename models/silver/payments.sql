{{
    config(
        materialized='incremental',
        incremental_strategy='latest_wins',
        unique_key='payment_id',
        meta={
            'latest_wins': {
                'order_by': ['last_event_at', 'last_event_id'],
                'keep_least': ['first_event_at'],
                'keep_greatest': ['last_ingested_at'],
            },
        },
        on_schema_change='append_new_columns',
    )
}}

{#- The ordering rule and the merge of silver orders (models/silver/orders.sql). -#}

with

events as (

    {{ first_delivered_events(
        ref('int_payment_deliveries'), ref('int_event_first_deliveries'), 'last_ingested_at'
    ) }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by payment_id
            order by {{ event_sequence('desc') }}
        ) as recency_rank,
        min(event_at) over (partition by payment_id) as earliest_event_at,
        max(_ingested_at) over (partition by payment_id) as newest_ingested_at
    from events

),

final as (

    select
        payment_id,
        order_id,
        status,
        method,
        currency,
        amount,
        status in ('captured', 'refunded') as is_captured,
        status = 'refunded' as is_refunded,
        earliest_event_at as first_event_at,
        event_at as last_event_at,
        event_id as last_event_id,
        newest_ingested_at as last_ingested_at
    from ranked
    where recency_rank = 1

)

select * from final
