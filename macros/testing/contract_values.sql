{#-
    accepted_values with the values the event contract allows for a field, so that the yml
    tests never restate an enum (macros/contract/event_contracts.sql is generated from the JSON
    Schemas). `field` defaults to the column's name.
        - contract_values:
            arguments:
              contract: orders
-#}

{% test contract_values(model, column_name, contract, field=none) %}
    {%- set name = field or column_name -%}
    {%- set found = event_contract(contract).fields | selectattr('name', 'equalto', name) | list -%}
    {%- if not found or found[0].enum is not defined -%}
        {{ exceptions.raise_compiler_error(
            "contract_values: the " ~ contract ~ " contract has no enum field '" ~ name ~ "'") }}
    {%- endif -%}
    {{ adapter.dispatch('test_accepted_values', 'dbt')(model, column_name, found[0].enum) }}
{% endtest %}
