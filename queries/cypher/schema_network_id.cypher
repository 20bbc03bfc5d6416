// Schema: one (:Network) per network_id (uniqueness constraint, also the lookup index).
CREATE CONSTRAINT network_id IF NOT EXISTS FOR (n:Network) REQUIRE n.network_id IS UNIQUE
