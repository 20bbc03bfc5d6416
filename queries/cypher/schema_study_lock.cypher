// Schema: at most one (:StudyLock) per study, so concurrent MERGEs of a lock serialise.
CREATE CONSTRAINT study_lock IF NOT EXISTS FOR (l:StudyLock) REQUIRE l.study IS UNIQUE
