"""The entity registry (`hub.model`) and the tables (`hub.tables`) describe the same columns.

Both are written by hand; this test is what keeps them one description: every property's
columns, every foreign key of a link and every link table that the registry names exists
in the tables, with nothing else beside them.
"""

from __future__ import annotations

import pytest

from cityhelix.hub.model import BY_NAME, ENTITY_TYPES, EntityType
from cityhelix.hub.tables import BY_TABLE


def _registry_columns(entity_type: EntityType) -> set[str]:
    columns = {"id", *entity_type.internal_columns}
    for prop in entity_type.properties:
        columns.update(prop.columns)
    for navigation in entity_type.navigations:
        if navigation.source_fk is not None:
            columns.add(navigation.source_fk)
    if entity_type.tenancy.owner_column is not None:
        columns.add(entity_type.tenancy.owner_column)
    return columns


@pytest.mark.parametrize("entity_type", ENTITY_TYPES, ids=lambda t: t.name)
def test_each_entity_table_has_exactly_the_columns_the_registry_describes(
    entity_type: EntityType,
) -> None:
    table = BY_TABLE[entity_type.table]
    assert set(table.c.keys()) == _registry_columns(entity_type)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES, ids=lambda t: t.name)
def test_each_link_of_the_registry_is_a_key_of_the_tables(entity_type: EntityType) -> None:
    source = BY_TABLE[entity_type.table]
    for navigation in entity_type.navigations:
        target = BY_TABLE[BY_NAME[navigation.target].table]
        if navigation.source_fk is not None:
            (key,) = source.c[navigation.source_fk].foreign_keys
            assert key.column is target.c.id, navigation.name
        elif navigation.target_fk is not None:
            (key,) = target.c[navigation.target_fk].foreign_keys
            assert key.column is source.c.id, navigation.name
        else:
            assert navigation.link_table and navigation.link_source and navigation.link_target
            link = BY_TABLE[navigation.link_table]
            (to_source,) = link.c[navigation.link_source].foreign_keys
            (to_target,) = link.c[navigation.link_target].foreign_keys
            assert to_source.column is source.c.id and to_target.column is target.c.id
            if navigation.link_order is not None:
                assert navigation.link_order in link.c


def test_every_entity_table_keeps_its_ids_for_ever_on_sqlite() -> None:
    for entity_type in ENTITY_TYPES:
        table = BY_TABLE[entity_type.table]
        assert table.dialect_options["sqlite"]["autoincrement"], table.name


def test_every_tenancy_path_leads_to_the_owner_type() -> None:
    owners = [t for t in ENTITY_TYPES if t.tenancy.owner_column is not None]
    assert len(owners) == 1
    for entity_type in ENTITY_TYPES:
        for path in entity_type.tenancy.paths:
            reached = entity_type
            for name in path:
                navigation = reached.find_navigation(name)
                assert navigation is not None, (entity_type.name, name)
                reached = BY_NAME[navigation.target]
            assert reached is owners[0], (entity_type.name, path)
        assert entity_type.tenancy.shared != bool(entity_type.tenancy.paths)
