CREATE TABLE "node_health_history" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "node_health_history_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"node_uuid" uuid NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"source" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "node_health" (
	"node_uuid" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"status" text NOT NULL,
	"since" timestamp with time zone DEFAULT now() NOT NULL,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL,
	"escalated" boolean DEFAULT false NOT NULL,
	CONSTRAINT "node_health_status_check" CHECK ("node_health"."status" in ('online', 'offline', 'warning', 'maintenance'))
);
--> statement-breakpoint
CREATE TABLE "service_health" (
	"service" text PRIMARY KEY NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"down" boolean DEFAULT false NOT NULL,
	"last_error" text,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "node_health_history_node_idx" ON "node_health_history" USING btree ("node_uuid","at");