// Schema: range index on Network.study, so listing one study's networks is an index seek.
CREATE INDEX network_study IF NOT EXISTS FOR (n:Network) ON (n.study)
