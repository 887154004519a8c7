CREATE TABLE "anomalies" (
	"kind" text PRIMARY KEY NOT NULL,
	"active" boolean DEFAULT false NOT NULL,
	"value" double precision,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
