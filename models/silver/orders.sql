{#- No statistics on personal columns: docs/design.md#erasure. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='latest_wins',
        unique_key='order_id',
        tblproperties={'delta.dataSkippingStatsColumns': (
            'order_id,status,currency,order_total,channel,schema_version,'
            'placed_at,last_event_at,last_event_id,last_event_type,'
            'last_ingested_at'
        )},
        meta={
            'latest_wins': {
                'order_by': ['last_event_at', 'last_event_id'],
                'keep_least': ['placed_at'],
                'keep_greatest': ['last_ingested_at'],
            },
        },
        on_schema_change='append_new_columns',
    )
}}

{#-
    The ordering rule (docs/design.md): each event once, at its first delivery
    (int_event_first_deliveries); the newest by event time wins, equal times fall to the
    greater event_id. latest_wins (macros/merge/strategies.sql) applies the same order to the
    stored state, so a late event never overwrites a newer one, yet the earliest event still
    sets placed_at. Incremental runs read what was ingested since the newest last_ingested_at
    here, less a lookback; every column is a function of the set of events, not of their
    arrival order, so a full refresh gives the same rows.
-#}

with

events as (

    {{ first_delivered_events(
        ref('int_order_deliveries'), ref('int_event_first_deliveries'), 'last_ingested_at'
    ) }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by {{ event_sequence('desc') }}
        ) as recency_rank,
        min(event_at) over (partition by order_id) as first_event_at,
        max(_ingested_at) over (partition by order_id) as newest_ingested_at
    from events

),

final as (

    select
        order_id,
        customer_id,
        customer_email_hash,
        status,
        currency,
        order_total,
        items,
        channel,
        schema_version,
        status = 'cancelled' as is_cancelled,
        first_event_at as placed_at,
        event_at as last_event_at,
        event_id as last_event_id,
        event_type as last_event_type,
        newest_ingested_at as last_ingested_at
    from ranked
    where recency_rank = 1

)

select * from final
