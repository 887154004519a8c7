CREATE TABLE "bandwidth_hourly" (
	"node_uuid" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"sum_bytes" bigint NOT NULL,
	"avg_bytes" bigint NOT NULL,
	"max_bytes" bigint NOT NULL,
	"min_bytes" bigint NOT NULL,
	"samples" integer NOT NULL,
	CONSTRAINT "bandwidth_hourly_node_uuid_hour_pk" PRIMARY KEY("node_uuid","hour")
);
--> statement-breakpoint
CREATE TABLE "bandwidth_snapshots" (
	"node_uuid" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"traffic_bytes" bigint NOT NULL,
	"delta_bytes" bigint NOT NULL,
	"users_online" integer NOT NULL,
	CONSTRAINT "bandwidth_snapshots_node_uuid_at_pk" PRIMARY KEY("node_uuid","at")
);
--> statement-breakpoint
CREATE TABLE "daily_stats" (
	"day" date PRIMARY KEY NOT NULL,
	"stats" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
