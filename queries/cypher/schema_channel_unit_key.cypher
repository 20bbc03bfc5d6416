// Schema: one rolled-channel (:ChannelUnit) per (network_id, uid) (composite uniqueness constraint).
CREATE CONSTRAINT channel_unit_key IF NOT EXISTS FOR (u:ChannelUnit) REQUIRE (u.network_id, u.uid) IS UNIQUE
