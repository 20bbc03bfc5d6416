// Schema: one rolled-BGE (:RolledUnit) per (network_id, uid) (composite uniqueness constraint).
CREATE CONSTRAINT rolled_unit_key IF NOT EXISTS FOR (u:RolledUnit) REQUIRE (u.network_id, u.uid) IS UNIQUE
