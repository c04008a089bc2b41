CREATE TABLE "hookinbox_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_seq" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"outcome" text NOT NULL,
	"duration_ms" integer NOT NULL,
	"error" text,
	"trigger" text DEFAULT 'delivery' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hookinbox_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"event_id" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"payload" text,
	"received_at" timestamp with time zone NOT NULL,
	"processed_at" timestamp with time zone,
	"occurred_at" timestamp with time zone,
	"last_error" text,
	"handlers" text,
	"duplicates" integer DEFAULT 0 NOT NULL,
	"last_seen_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "hookinbox_paypal_certs" (
	"url" text PRIMARY KEY NOT NULL,
	"pem" text NOT NULL,
	"fetched_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hookinbox_rejections" (
	"provider" text NOT NULL,
	"reason" text NOT NULL,
	"minute" integer NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "hookinbox_rejections_provider_reason_minute_pk" PRIMARY KEY("provider","reason","minute")
);
--> statement-breakpoint
CREATE TABLE "paid_checkouts" (
	"session_id" text PRIMARY KEY NOT NULL,
	"customer_email" text,
	"amount_total" integer,
	"currency" text,
	"paid_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "refunds" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"reference" text NOT NULL,
	"amount_minor" integer,
	"currency" text,
	"recorded_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "hookinbox_attempts_event_seq" ON "hookinbox_attempts" USING btree ("event_seq");--> statement-breakpoint
CREATE UNIQUE INDEX "hookinbox_events_event_id_provider" ON "hookinbox_events" USING btree ("event_id","provider");--> statement-breakpoint
CREATE INDEX "hookinbox_events_status_seq" ON "hookinbox_events" USING btree ("status","seq");--> statement-breakpoint
CREATE INDEX "hookinbox_events_provider_seq" ON "hookinbox_events" USING btree ("provider","seq");--> statement-breakpoint
CREATE INDEX "hookinbox_events_type_seq" ON "hookinbox_events" USING btree ("type","seq");--> statement-breakpoint
CREATE INDEX "hookinbox_events_received_at" ON "hookinbox_events" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "hookinbox_rejections_minute" ON "hookinbox_rejections" USING btree ("minute");