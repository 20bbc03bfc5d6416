// Schema: one (:Study) per name (uniqueness constraint, also the lookup index).
CREATE CONSTRAINT study_name IF NOT EXISTS FOR (s:Study) REQUIRE s.name IS UNIQUE
