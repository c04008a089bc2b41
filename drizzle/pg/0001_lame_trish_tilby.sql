CREATE TABLE "hookinbox_object_versions" (
	"provider" text NOT NULL,
	"object_key" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"event_id" text NOT NULL,
	CONSTRAINT "hookinbox_object_versions_provider_object_key_pk" PRIMARY KEY("provider","object_key")
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
