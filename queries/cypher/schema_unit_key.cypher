// Schema: one MGE (:Unit) per (network_id, uid). The composite uniqueness constraint's
// index makes MATCH (u:Unit {network_id: $id, uid: $uid}) an index seek, and
// MATCH (u:Unit {network_id: $id}) WHERE u.uid IS NOT NULL a prefix seek (batched deletes).
CREATE CONSTRAINT unit_key IF NOT EXISTS FOR (u:Unit) REQUIRE (u.network_id, u.uid) IS UNIQUE
