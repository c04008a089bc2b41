CREATE TABLE "hookinbox_status_counts" (
	"provider" text NOT NULL,
	"status" text NOT NULL,
	"shard" integer NOT NULL,
	"n" bigint NOT NULL,
	CONSTRAINT "hookinbox_status_counts_provider_status_shard_pk" PRIMARY KEY("provider","status","shard")
);
